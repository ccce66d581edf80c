"""The Supabase `jobs` table as a mirror of every OmveeJob's status (the operator writes it)."""
