"""Grade programmes and the tier engine (GraphQL-free). Built in issue [3/6]."""
