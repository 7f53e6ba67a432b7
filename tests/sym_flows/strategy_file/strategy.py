from sym.sdk.strategies import AccessStrategy


class TicketAccess(AccessStrategy):
    def fetch_remote_identity(self, user):
        return None  # no lookup: the requester must already have an identity

    def escalate(self, target_id, event):
        return {"ticket_for": self.get_requester_identity(event), "target": target_id}

    def deescalate(self, target_id, event):
        return None
