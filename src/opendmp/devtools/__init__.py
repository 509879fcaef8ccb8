"""Development and benchmark tools: the synthetic demo data and the bulk seed. Interfaces
(web, fhir, xds, auth) may not import this package; the CLI may."""
