"""The random walk that scripts/compare_grammar_masks.py (xgrammar) and
scripts/compare_llguidance.py (llguidance) drive through a grammar's masks: one rule, so that
both libraries are walked the same way and recorded walks replay."""


def allowed_ids(words, vocab_size):
    """The token ids a packed mask allows: bit b of 32-bit word w is token 32 * w + b."""
    return [w * 32 + b for w, word in enumerate(words) if word for b in range(32) if word >> b & 1 and w * 32 + b < vocab_size]


def next_token(allowed, stop, closers, rng):
    """The stop token half the time it is allowed, else often a short closing token (so that
    walks end), else any allowed token."""
    if stop in allowed and rng.random() < 0.5:
        return stop
    closing = [t for t in allowed if t in closers]
    return rng.choice(closing) if closing and rng.random() < 0.4 else rng.choice(allowed)
