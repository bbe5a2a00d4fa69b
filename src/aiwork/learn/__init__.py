"""Learning from what experts validated: custom visual tags trained on their examples
(:mod:`aiwork.learn.tags`) and a speech glossary built from their transcript corrections,
adopted only when it measurably helps (:mod:`aiwork.learn.glossary`)."""
