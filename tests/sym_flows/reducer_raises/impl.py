from sym.sdk.annotations import prefetch, reducer


@reducer
def get_permissions(event):
    return event.flow.vars["approvers_group"]  # KeyError: the flow has no such var


@reducer
def get_approvers(event):
    raise RuntimeError("directory unavailable")


@prefetch(field_name="database")
def databases(event):
    raise TimeoutError("catalog did not answer")
