"""Process plumbing: settings, logging, the embedded PostgreSQL launcher and the `crm` command."""
