"""The datasets wing: digit sources and sequence generators, pure functions of ``(seed, index)``.

    digits     MNIST digits (bundled 5,000 or IDX files), a user's own digit, ``sequence_rng``
    flowing    Flowing MNIST: digits translating on the 28x28 torus (the paper's data)
    rotating   Rotating MNIST: digits turning about the centre in a rotation flow's steps
    flicker    Flickering Flowing MNIST: the classification task
    kth        Moving KTH actions (optional extra: needs the videos)
    sequences  moving digits for any flow, by the flow's registered generator

Datasets import the library core (flows) and nothing else of fernn.
"""
