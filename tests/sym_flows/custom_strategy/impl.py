"""A flow whose access is granted by a custom strategy, as in Sym's custom-strategy quickstart."""

from sym.sdk.annotations import hook
from sym.sdk.strategies import AccessStrategy
from sym.sdk.templates import ApprovalTemplateStep, get_step_output


class GrantsApi(AccessStrategy):
    def fetch_remote_identity(self, user):
        return "acct-" + user.email.split("@")[0]

    def escalate(self, target_id, event):
        account = self.get_requester_identity(event)
        target = event.payload.fields["target"]
        return {"grant": f"{account}@{target_id}", "label": target.label}

    def deescalate(self, target_id, event):
        grant = get_step_output(ApprovalTemplateStep.ESCALATE)["grant"]
        return {"revoked": grant, "identity": self.get_requester_identity(event)}


@hook
def after_escalate(event):
    print("granted", get_step_output()["grant"])
