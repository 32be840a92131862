"""What readers add to a paper page: comments and how they are rendered."""
