"""Pictures of analysis results written to files (SVG, PNG); no textual here."""
