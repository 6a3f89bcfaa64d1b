"""Training: jobs in the database, workers that claim and run them, recipes and executors."""
