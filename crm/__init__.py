"""CRM domain services: plain inputs and outputs, a session, domain errors; no GraphQL."""
