"""Who may access a record: authorisations, blocks, treating doctors, emergency access, the
patient's choices and legal representatives (docs/rules.md §3)."""
