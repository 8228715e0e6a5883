"""Country codes and the dyadic trade-migration panel.

``countries`` maps the many spellings of a country (names, ISO 3166-1 alpha-2/alpha-3, UN M49)
to one code, ISO 3166-1 alpha-3; ``assemble`` joins trade, migration and covariates on
(origin, destination, year) into the panel described in ``schema``.
"""
