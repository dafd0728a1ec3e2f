// Entry of the web viewer. The topology, panels and sessions arrive with the web issue;
// until then the page says what it is, built with the same toolchain.
import { select } from 'd3';

select('#app').append('h1').text('Tollgate').append('small').text(' — the viewer is not built yet');
