"""Neural models of the effects: streaming TCN and LSTM/GRU, their training and export."""
