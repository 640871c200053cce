"""Each lab's recipe, one module per lab (``aelab.course.lab01`` ... ``aelab.course.lab10``): the
configurations and the training and measuring functions that the lab's asset command (``python -m
aelab.assets.make_labNN``, which only runs them) and its notebook share, so that the notebook can prove
the command by rerunning its first steps. A recipe imports the library; the library never imports a
recipe."""
