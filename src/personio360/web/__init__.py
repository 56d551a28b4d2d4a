"""The admin page (issue 9): sign-in, Integration, Overview, Runs and People over the CLI's services."""
