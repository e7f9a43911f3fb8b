"""The study as a static web page: headline tables, plots and A/B listening (``build_site``)."""
