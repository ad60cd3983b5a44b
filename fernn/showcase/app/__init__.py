"""The Streamlit demo's widgets and views, one module per job; ``app.py`` at the top wires them in
``main()``. The only package in fernn that imports streamlit, and nothing outside it imports this
package, so ``import fernn`` and ``import fernn.showcase`` stay free of streamlit.

    shared             session and widget keys, the link binding (BIND), constants several modules use
    resources          cached resources: checkpoints, the server's cache and run slots, test digits, uploads
    sidebar_digits     1 · Input (MNIST digits, or one drawn or uploaded) and 2 · Motion (velocities, starts)
    sidebar_own_digit  the drawing canvas and the image upload
    sidebar_models     3 · Models (slots, own checkpoints, velocity set) and 4 · Run (frames, seed)
    sidebar_link       the link: checked once on arrival, offered to copy at the end of each run
    view_comparison    the headline at the top, the Comparison tab, "Evaluate these settings"
    view_inside        the Inside tab: hidden states, drift, velocity read-out
    view_velocities    the Velocities tab: recorded velocity grids
    view_classify      the Classify tab: a flickering digit, every classifier's answer over time
    view_about         the About tab: model cards and the explanation
    page_scripts       what a phone needs: the sidebar closing itself after a change, a Copy link button

Every computation lives in :mod:`fernn.showcase` and every figure in :mod:`fernn.showcase.viz`.
"""
