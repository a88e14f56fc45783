"""Media: photos and documents, uploaded in parts or through signed URLs."""
