"""What is built from hits: extractive answers and their synthesis, gists, comparable country
examples, country profiles, and briefs with their evidence gaps and renderers."""
