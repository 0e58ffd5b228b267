"""Staff passport: source records, SD-JWT VC credentials, status lists, presentations and policies."""
