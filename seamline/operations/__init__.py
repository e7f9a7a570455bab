"""Operations on a running pipeline: status, replay, the local pipeline, the demo and its convergence check."""
