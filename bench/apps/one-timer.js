'use strict';
// A script that lives past its first event-loop turn and never touches the network (a build tool,
// a script that computes and exits): one 10 ms timer. For bench/startup-ab.js --app.
setTimeout(() => {}, 10);
