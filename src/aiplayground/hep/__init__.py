"""HEP: ROOT files and jagged arrays — reading, preprocessing, demo classifier, ROOT inference."""
