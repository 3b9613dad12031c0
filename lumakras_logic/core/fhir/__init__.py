"""FHIR R4 (4.0.1) views of the kb and its answers (docs/fhir.md).

Each module builds plain JSON dicts from the kb or from typed answers, so that nothing here imports
fhirclient at `lumakras decide` start-up; the tests parse what they build with fhirclient's models
(strict) to hold it to FHIR's structure.
"""
