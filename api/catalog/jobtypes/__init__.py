"""The built-in job types, one module each (see :mod:`api.catalog.definition`).

To add a type: a module here with ``DEFINITION = JobTypeDefinition(...)``, its entry in
``api/catalog/profiles.yaml``, and its ``jobimages/<package>/`` folder; then ``make generate``.
"""
