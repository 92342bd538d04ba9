"""Reference rows that know no text: chance (``random``) and training popularity, the floors
every task kind's figures are read against."""
