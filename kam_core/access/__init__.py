"""Who may do what: sign-in identities and roles."""
