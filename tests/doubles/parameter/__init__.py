"""Parameter sets of the test-double tracker."""
