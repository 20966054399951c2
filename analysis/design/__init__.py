"""Planning what to run next from what a sweep has measured: which runs narrow a forecast most."""
