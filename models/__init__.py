"""mineq formulations: curves, the market welfare program and (one module
each) policy instruments.  This is the package modelers read and extend."""
