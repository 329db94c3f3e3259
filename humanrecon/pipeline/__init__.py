"""Stage runners of the reconstruction DAG: one function per rule, called by ``workflow_scripts/``.

Each runner reads its inputs (session folder, HDF5 intermediates), calls the pure library functions
(:mod:`humanrecon.silhouettes`, :mod:`humanrecon.occupancy`, :mod:`humanrecon.meshing`,
:mod:`humanrecon.metrics`), and writes its outputs atomically with provenance.
"""
