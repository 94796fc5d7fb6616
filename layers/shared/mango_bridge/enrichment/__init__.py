"""After the call: speech-analytics topics and transcripts, the client's rating (F20–F22)."""
