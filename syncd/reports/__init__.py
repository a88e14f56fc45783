"""Job-sheet reports: requested over REST, made as PDFs by a background job."""
