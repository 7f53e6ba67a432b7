from sym.sdk.annotations import hook, reducer


@reducer
def get_aprovers(event):  # a typo: the runtime would never call it
    return ["boss@acme.io"]


@hook
def on_aprove(event):
    return None


def get_permissions(event):  # not decorated: its policy would be skipped
    return None


@hook
def on_request(event):
    return None
