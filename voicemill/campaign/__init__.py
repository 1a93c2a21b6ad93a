"""Campaign delivery: personalized audio rendered, synthesized, post-processed, published."""
