"""The commands and experiments wing: what ``python -m fernn.<command>`` runs.

    cli             what the commands share (argument types, one-line errors)
    train/          TrainConfig, presets, tasks, the loop and ``python -m fernn.train``
    evaluate        held-out evaluation of forecasters and classifiers, ``python -m fernn.evaluate``
    report          targets, comparisons and the markdown report
    classification  the classification experiment's settings, targets and report
    table1          the paper's Table 1 at CPU scale
    study           the training-speed study, ``python -m fernn.study``
    figures         the shipped figures, ``python -m fernn.figures``
    convert         research-code checkpoints to fernn's format, ``python -m fernn.convert``
    bench/          ``python -m fernn.bench``

Experiments import the core and the datasets; nothing in the core or the datasets imports them.
"""
