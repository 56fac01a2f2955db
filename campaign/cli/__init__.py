"""The ``campaign`` command line (``campaign.cli.main``)."""
