"""The lottery paper's experiments on Linux (Waldspurger and Weihl, OSDI
1994): ratio (figure 4), fairness over time (figure 5), load insulation
with currencies (figure 9), and how allocation error grows with the number
of quanta, against a simulated lottery and stride scheduler."""
