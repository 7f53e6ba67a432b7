"""Local fakes of the vendor APIs the integrations call, speaking their wire formats."""
