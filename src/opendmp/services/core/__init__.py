"""What every capability shares: the context the composition root wires, the gate that asks
the policy and audits its answer, the facts the policy needs, the record lookup, the data keys."""
