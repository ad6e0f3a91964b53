library(testthat)
library(advtrain)

test_check("advtrain")
