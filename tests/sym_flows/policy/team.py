from sym.sdk.user import User


def leads(event):
    return [User(email) for email in event.flow.vars["leads"].split(",")]
