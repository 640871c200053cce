"""Each lab's recipe, one module per lab (``aelab.course.lab09``, ``aelab.course.lab10`` ...): the configurations and
the training functions that the lab's asset command (``python -m aelab.assets.make_labNN``) and its notebook
share, so that the notebook can prove the command by rerunning its first steps. A recipe imports the
library; the library never imports a recipe."""
