"""What runs beside the work: the job recorder (``aifinops run``, :func:`aifinops.job`)."""
