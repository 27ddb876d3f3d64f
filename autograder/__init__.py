"""The instructor toolkit: build the release and solutions, publish, grade, and the strict
hidden checks. Nothing in this package reaches students."""
