"""IHE XDS.b over SOAP 1.2 (ITI-41, ITI-18, ITI-43, ITI-57) authenticated by a VIHF: a second
view, beside the FHIR API, of the same store, policy and audit (docs/xds.md)."""
