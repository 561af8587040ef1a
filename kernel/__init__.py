"""The shared kernel below both domains (crm/ and tiers/): domain errors, input
validation, references to rows, money, keyset pagination and filtering. It imports
neither domain, so no import runs back up a layer."""
