"""Training trajectories (issue 13): a case's `training:` block read and checked, each backend
trained the way its users train (or by crossgrad's loop over its backprop), and every recorded
step compared with the float64 reference's trajectory under a tolerance that accumulates each
update's rounding bound."""
