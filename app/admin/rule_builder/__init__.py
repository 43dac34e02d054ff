"""The visual rule builder: the admin's rule list, editor, dry run, backtests and versions (blueprint `admin_rules`)."""
